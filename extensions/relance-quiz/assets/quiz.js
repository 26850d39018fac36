/* Relance product quiz (theme app block). Talks only to the shop's app proxy
 * (data-endpoint, /apps/relance/quiz): GET the questions, POST
 * {email, consent, answers, submission_id}, show the recommended products.
 * All text goes through textContent; links must be storefront paths or https. */
(function () {
  'use strict';

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (Object.prototype.hasOwnProperty.call(attrs, k)) n.setAttribute(k, attrs[k]);
      }
    }
    if (text != null) n.textContent = String(text);
    return n;
  }

  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    var b = new Uint8Array(16);
    c.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function safeUrl(u) {
    return typeof u === 'string' && ((u.charAt(0) === '/' && u.charAt(1) !== '/') || u.indexOf('https://') === 0) ? u : null;
  }

  function Quiz(root) {
    this.root = root;
    this.body = root.querySelector('[data-relance-body]');
    this.status = root.querySelector('[data-relance-status]');
    this.endpoint = root.getAttribute('data-endpoint');
    this.d = root.dataset;
    this.answers = {};
    this.step = 0;
    this.submissionId = uuid(); // kept across retries: a resent post is idempotent
    this.uid = 'rq' + Math.random().toString(36).slice(2, 8);
  }

  Quiz.prototype.say = function (msg) {
    this.status.textContent = msg || '';
  };

  Quiz.prototype.load = function () {
    var self = this;
    fetch(this.endpoint, {headers: {Accept: 'application/json'}, credentials: 'same-origin'})
      .then(function (r) {
        if (r.status === 404) return null;
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (q) {
        if (!q || !q.questions || !q.questions.length) {
          self.root.hidden = true; // no quiz saved yet
          return;
        }
        self.quiz = q;
        self.renderQuestion();
      })
      .catch(function () { self.say(self.d.errorLabel); });
  };

  Quiz.prototype.clear = function () {
    while (this.body.firstChild) this.body.removeChild(this.body.firstChild);
    this.say('');
  };

  Quiz.prototype.renderQuestion = function () {
    var self = this;
    var qs = this.quiz.questions;
    var q = qs[this.step];
    this.clear();
    if (this.step === 0 && this.quiz.intro) this.body.appendChild(el('p', {'class': 'relance-quiz__intro'}, this.quiz.intro));
    var form = el('form', {'class': 'relance-quiz__step', novalidate: ''});
    var fs = el('fieldset');
    var legend = el('legend', {'class': 'relance-quiz__question'}, q.text);
    fs.appendChild(el('p', {'class': 'relance-quiz__progress'},
      (this.d.stepLabel || '{n}/{total}').replace('{n}', this.step + 1).replace('{total}', qs.length)));
    fs.appendChild(legend);
    var next = el('button', {type: 'submit', 'class': 'relance-quiz__button'}, this.d.nextLabel || 'Next');
    next.disabled = !this.answers[q.id];
    q.answers.forEach(function (a, i) {
      var id = self.uid + '-' + self.step + '-' + i;
      var input = el('input', {type: 'radio', name: self.uid + '-' + q.id, id: id, value: a.id});
      input.checked = self.answers[q.id] === a.id;
      input.addEventListener('change', function () {
        self.answers[q.id] = a.id;
        next.disabled = false;
      });
      var label = el('label', {'for': id, 'class': 'relance-quiz__answer'});
      label.appendChild(input);
      label.appendChild(el('span', null, a.text));
      fs.appendChild(label);
    });
    form.appendChild(fs);
    var nav = el('div', {'class': 'relance-quiz__nav'});
    if (this.step > 0) {
      var back = el('button', {type: 'button', 'class': 'relance-quiz__button relance-quiz__button--secondary'}, this.d.backLabel || 'Back');
      back.addEventListener('click', function () { self.step--; self.renderQuestion(); });
      nav.appendChild(back);
    }
    nav.appendChild(next);
    form.appendChild(nav);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!self.answers[q.id]) return;
      self.step++;
      if (self.step < qs.length) self.renderQuestion();
      else self.renderEmail();
    });
    this.body.appendChild(form);
    var first = form.querySelector('input:checked') || form.querySelector('input');
    if (first && this.step > 0) first.focus();
  };

  Quiz.prototype.renderEmail = function () {
    var self = this;
    this.clear();
    var form = el('form', {'class': 'relance-quiz__step'});
    var emailId = this.uid + '-email';
    var consentId = this.uid + '-consent';
    form.appendChild(el('label', {'for': emailId, 'class': 'relance-quiz__label'}, this.d.emailLabel));
    var email = el('input', {type: 'email', id: emailId, name: 'email', required: '', autocomplete: 'email', 'class': 'relance-quiz__input'});
    form.appendChild(email);
    var consentLabel = el('label', {'for': consentId, 'class': 'relance-quiz__consent'});
    var consent = el('input', {type: 'checkbox', id: consentId, name: 'consent'});
    consent.checked = false; // explicit opt-in only
    consentLabel.appendChild(consent);
    consentLabel.appendChild(el('span', null, this.d.consentLabel));
    form.appendChild(consentLabel);
    var nav = el('div', {'class': 'relance-quiz__nav'});
    var back = el('button', {type: 'button', 'class': 'relance-quiz__button relance-quiz__button--secondary'}, this.d.backLabel || 'Back');
    back.addEventListener('click', function () { self.step = self.quiz.questions.length - 1; self.renderQuestion(); });
    var submit = el('button', {type: 'submit', 'class': 'relance-quiz__button'}, this.d.submitLabel);
    nav.appendChild(back);
    nav.appendChild(submit);
    form.appendChild(nav);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!email.checkValidity()) {
        email.setAttribute('aria-invalid', 'true');
        email.focus();
        self.say(email.validationMessage);
        return;
      }
      email.removeAttribute('aria-invalid');
      submit.disabled = true;
      self.say('');
      self.submit(email.value, consent.checked).then(function (res) {
        submit.disabled = false;
        if (res) self.renderResults(res);
      });
    });
    this.body.appendChild(form);
    email.focus();
  };

  Quiz.prototype.submit = function (email, consent) {
    var self = this;
    var body = JSON.stringify({email: email, consent: consent, answers: this.answers, submission_id: this.submissionId});
    return fetch(this.endpoint, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', Accept: 'application/json'},
      body: body
    })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) { return {status: r.status, json: j}; });
      })
      .then(function (r) {
        if (r.status === 200) return r.json;
        var errs = r.json && r.json.errors;
        self.say(errs ? Object.keys(errs).map(function (k) { return errs[k]; }).join(' ') : self.d.errorLabel);
        return null;
      })
      .catch(function () {
        self.say(self.d.errorLabel);
        return null;
      });
  };

  Quiz.prototype.renderResults = function (res) {
    this.clear();
    var wrap = el('div', {'class': 'relance-quiz__results', tabindex: '-1'});
    wrap.appendChild(el('h3', {'class': 'relance-quiz__question'}, this.d.resultsHeading + (res.name ? ' — ' + res.name : '')));
    var list = el('ul', {'class': 'relance-quiz__products'});
    (res.products || []).forEach(function (p) {
      var href = safeUrl(p.url);
      if (!href) return;
      var li = el('li', {'class': 'relance-quiz__product'});
      var a = el('a', {href: href});
      var img = safeUrl(p.image_url);
      if (img) a.appendChild(el('img', {src: img, alt: '', loading: 'lazy', width: '160', height: '160'}));
      a.appendChild(el('span', null, p.title));
      li.appendChild(a);
      list.appendChild(li);
    });
    wrap.appendChild(list);
    this.body.appendChild(wrap);
    wrap.focus();
  };

  function start() {
    var roots = document.querySelectorAll('[data-relance-quiz]');
    for (var i = 0; i < roots.length; i++) {
      if (roots[i].getAttribute('data-relance-started')) continue;
      roots[i].setAttribute('data-relance-started', '1');
      new Quiz(roots[i]).load();
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
  // The theme editor re-renders sections without reloading the page.
  document.addEventListener('shopify:section:load', start);
})();
